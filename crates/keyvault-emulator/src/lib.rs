//! An Azure Key Vault secrets emulator for tests (HTTPS, challenge auth).
