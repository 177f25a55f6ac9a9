//! Local secret techniques: .env, mounted secret files, OS keyring, encrypted files.
