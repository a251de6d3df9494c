"""The tenancy JSON API: accounts, tenants and members, invites, export."""
