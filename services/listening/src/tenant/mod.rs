//! What a tenant sets up and learns: its [`rules`] with their versions, its
//! [`settings`] (taxonomy and brand handles), the compiled [`profile`] that
//! ingest runs with, the [`accuracy`] of its rules from agents' labels, and
//! the [`adaptation`] of the learned models to those labels.

pub mod accuracy;
pub mod adaptation;
pub mod profile;
pub mod rules;
pub mod settings;
