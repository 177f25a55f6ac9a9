//! Examples for the secrets workspace; see `examples/`. This library is empty.
