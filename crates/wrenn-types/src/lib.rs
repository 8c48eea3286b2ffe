//! Shared, validated API types; filled in as the API crates need them.
