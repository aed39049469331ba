//! Authentication: password realms (more to come: tokens, tickets, TFA).

pub mod realm;
