use super::vocabulary::text_enum;

text_enum! {
    /// What a user may do: customers use the portal, staff the console.
    pub enum Role ("a role") {
        Customer = "customer",
        Support = "support",
        Admin = "admin",
    }
}

impl Role {
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Support | Role::Admin)
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
    }
}
