//! The built-in handlers a route may name (`handler = "access.users.list"`), as enums resolved
//! when the policy loads: an unknown name is a load error with `file:line`, never a 501 at
//! request time. `access_api` matches them exhaustively, so a handler listed here
//! without an implementation does not compile.
//!
//! Two enums, one per answering module: [`LoginHandler`] (the login endpoints, answered by
//! `access_api` itself) and [`AdminHandler`] (the management endpoints, `access_api::admin`).

/// Declares one handler enum with its policy-file names.
macro_rules! handlers {
    ($(#[$meta:meta])* $enum:ident { $($variant:ident = $name:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $enum {
            $(#[doc = concat!("`", $name, "`")] $variant,)*
        }

        impl $enum {
            /// Every handler of this kind, in declaration order.
            pub const ALL: &'static [$enum] = &[$($enum::$variant,)*];

            /// The name a policy file uses.
            pub fn name(self) -> &'static str {
                match self {
                    $($enum::$variant => $name,)*
                }
            }
        }
    };
}

handlers! {
    /// The login endpoints (tickets, realms, OpenID, VNC tickets).
    LoginHandler {
        Index = "access.index",
        TicketGet = "access.ticket.get",
        TicketCreate = "access.ticket.create",
        DomainsList = "access.domains.list",
        VncticketCreate = "access.vncticket.create",
        OpenidIndex = "access.openid.index",
        OpenidAuthUrl = "access.openid.auth_url",
        OpenidLogin = "access.openid.login",
    }
}

handlers! {
    /// The management endpoints (users, tokens, ACLs, groups, roles, realms, TFA, pools, jobs).
    AdminHandler {
        UsersList = "access.users.list",
        UsersGet = "access.users.get",
        UsersCreate = "access.users.create",
        UsersUpdate = "access.users.update",
        UsersDelete = "access.users.delete",
        TokensList = "access.tokens.list",
        TokensGet = "access.tokens.get",
        TokensCreate = "access.tokens.create",
        TokensUpdate = "access.tokens.update",
        TokensDelete = "access.tokens.delete",
        AclList = "access.acl.list",
        AclUpdate = "access.acl.update",
        PermissionsGet = "access.permissions.get",
        GroupsList = "access.groups.list",
        GroupsGet = "access.groups.get",
        GroupsCreate = "access.groups.create",
        GroupsUpdate = "access.groups.update",
        GroupsDelete = "access.groups.delete",
        RolesList = "access.roles.list",
        RolesGet = "access.roles.get",
        RolesCreate = "access.roles.create",
        RolesUpdate = "access.roles.update",
        RolesDelete = "access.roles.delete",
        PasswordUpdate = "access.password.update",
        DomainsGet = "access.domains.get",
        DomainsCreate = "access.domains.create",
        DomainsUpdate = "access.domains.update",
        DomainsDelete = "access.domains.delete",
        DomainsSync = "access.domains.sync",
        TfaList = "access.tfa.list",
        TfaUserList = "access.tfa.user_list",
        TfaGet = "access.tfa.get",
        TfaAdd = "access.tfa.add",
        TfaUpdate = "access.tfa.update",
        TfaDelete = "access.tfa.delete",
        TfaUserTypes = "access.tfa.user_types",
        TfaUnlock = "access.tfa.unlock",
        PoolsList = "pools.list",
        PoolsGet = "pools.get",
        PoolsCreate = "pools.create",
        PoolsUpdate = "pools.update",
        PoolsDelete = "pools.delete",
        Why = "access.aclgate.why",
        Qrcode = "access.aclgate.qrcode",
        Logout = "access.aclgate.logout",
        RealmSyncJobsList = "cluster.jobs.realm_sync.list",
        RealmSyncJobsGet = "cluster.jobs.realm_sync.get",
        RealmSyncJobsCreate = "cluster.jobs.realm_sync.create",
        RealmSyncJobsUpdate = "cluster.jobs.realm_sync.update",
        RealmSyncJobsDelete = "cluster.jobs.realm_sync.delete",
        TaskStatus = "nodes.tasks.status",
        TaskLog = "nodes.tasks.log",
    }
}

/// A built-in handler: the route is answered by aclgate instead of the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Handler {
    /// A login endpoint.
    Login(LoginHandler),
    /// A management endpoint.
    Admin(AdminHandler),
}

// === impl Handler ===

impl Handler {
    /// The handler a policy file names `name`; `None` if this build has no such handler.
    pub fn from_name(name: &str) -> Option<Handler> {
        let login = LoginHandler::ALL.iter().find(|h| h.name() == name);
        let admin = AdminHandler::ALL.iter().find(|h| h.name() == name);
        login
            .map(|h| Handler::Login(*h))
            .or_else(|| admin.map(|h| Handler::Admin(*h)))
    }

    /// The name a policy file uses.
    pub fn name(self) -> &'static str {
        match self {
            Handler::Login(h) => h.name(),
            Handler::Admin(h) => h.name(),
        }
    }
}

impl std::fmt::Display for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves_to_itself_and_names_are_unique() {
        let all = LoginHandler::ALL
            .iter()
            .map(|h| Handler::Login(*h))
            .chain(AdminHandler::ALL.iter().map(|h| Handler::Admin(*h)));
        let mut seen = std::collections::HashSet::new();
        for h in all {
            assert!(seen.insert(h.name()), "duplicate name {h}");
            assert_eq!(Handler::from_name(h.name()), Some(h), "{h}");
        }
        assert_eq!(Handler::from_name("access.nope"), None);
    }

    #[test]
    fn an_unknown_handler_is_a_load_error_naming_file_and_line() {
        let policy = "[[route]]\nmethod = \"GET\"\npath = \"/a\"\nuser = \"all\"\n\n\
                      [[route]]\nmethod = \"GET\"\npath = \"/b\"\nuser = \"all\"\n\
                      handler = \"access.nope\"\n";
        let err = crate::policy::RouteTable::from_str("p.toml", policy).expect_err("unknown");
        assert_eq!(
            err.to_string(),
            "p.toml:10: no built-in handler `access.nope` in this build"
        );
        let known = policy.replace("access.nope", "access.users.list");
        let table = crate::policy::RouteTable::from_str("p.toml", &known).expect("known");
        let found = table.find("GET", "/b").expect("route");
        assert_eq!(
            found.route.handler,
            Some(Handler::Admin(AdminHandler::UsersList))
        );
    }
}
