//! Google Cloud Secret Manager provider.
