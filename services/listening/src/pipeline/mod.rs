//! The stages every mention goes through before it is stored, each a pure
//! function of the text (and, for noise, the tenant's recent mentions):
//! [`normalise`], [`noise`], [`sentiment`], [`classify`]. They know nothing
//! of the mention model, the store or the tenant, so `ingest` composes them
//! and `tenant` configures them without either being imported back.

pub mod classify;
pub mod noise;
pub mod normalise;
pub mod sentiment;
