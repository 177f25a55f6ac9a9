//! The `secrets` command-line tool.
