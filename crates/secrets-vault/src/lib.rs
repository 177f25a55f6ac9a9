//! HashiCorp Vault / OpenBao provider.
