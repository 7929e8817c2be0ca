//! What a tenant sets up and learns: its [`rules`] with their versions, its
//! [`settings`] (taxonomy and brand handles), the compiled [`profile`] that
//! ingest runs with, and the [`accuracy`] of its rules from agents' labels.

pub mod accuracy;
pub mod profile;
pub mod rules;
pub mod settings;
