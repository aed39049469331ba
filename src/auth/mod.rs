//! Authentication: password realms ([`realm`]), login tickets and CSRF prevention tokens
//! ([`ticket`]), the logout list ([`logout`]) and login throttling ([`throttle`]).

pub mod logout;
pub mod realm;
pub mod tfa;
pub mod throttle;
pub mod ticket;
