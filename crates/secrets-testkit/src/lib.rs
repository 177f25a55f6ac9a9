//! Test support: server harness, scripted provider, conformance suite.
