use super::vocabulary::text_enum;

text_enum! {
    /// What a user may do: customers use the portal, staff the console.
    pub enum Role ("a role") {
        Customer = "customer",
        Support = "support",
        Admin = "admin",
        Sales = "sales",
        ReadOnly = "read_only",
    }
}

/// What a staff member may do in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// See every console page, search, export.
    Read,
    /// Everyday support: suspend, reinstate, extend within a limit,
    /// deactivate machines, send messages again.
    Support,
    /// Sales: issue and edit licenses.
    Sell,
    /// The rest: the catalog, staff, API tokens, webhooks, and what cannot
    /// be undone or moves a license (revoke, transfer, type change).
    Administer,
}

impl Role {
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Customer)
    }

    /// Admins may do everything; support, sales and read-only staff read
    /// everything and do their own part.
    pub fn can(self, capability: Capability) -> bool {
        match (self, capability) {
            (Role::Customer, _) => false,
            (Role::Admin, _) | (_, Capability::Read) => true,
            (Role::Support, Capability::Support) | (Role::Sales, Capability::Sell) => true,
            _ => false,
        }
    }
}

text_enum! {
    /// A customer's place in their organization: the owner invites and
    /// removes members.
    pub enum OrgRole ("an organization role") {
        Owner = "owner",
        Member = "member",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for role in [Role::Customer, Role::Support, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
        assert!(Role::Admin.is_staff() && !Role::Customer.is_staff());
        assert!(Role::Sales.is_staff() && Role::ReadOnly.is_staff());
        use Capability::*;
        let may = |role: Role| -> Vec<Capability> {
            [Read, Support, Sell, Administer]
                .into_iter()
                .filter(|c| role.can(*c))
                .collect()
        };
        assert_eq!(may(Role::Admin), [Read, Support, Sell, Administer]);
        assert_eq!(may(Role::Support), [Read, Support]);
        assert_eq!(may(Role::Sales), [Read, Sell]);
        assert_eq!(may(Role::ReadOnly), [Read]);
        assert!(may(Role::Customer).is_empty());
    }
}
