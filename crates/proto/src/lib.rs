//! Earshot's gRPC contracts, generated at build time from `proto/earshot/**`.
//!
//! The module tree mirrors the protobuf packages. Lint exceptions for generated
//! code are confined to this crate.

/// Encoded `FileDescriptorSet` of every Earshot package, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/earshot_descriptor.bin"));

pub mod earshot {
    pub mod common {
        pub mod v1 {
            #![allow(clippy::all, clippy::pedantic, missing_docs)]
            include!(concat!(env!("OUT_DIR"), "/earshot.common.v1.rs"));
        }
    }
    pub mod events {
        pub mod v1 {
            #![allow(clippy::all, clippy::pedantic, missing_docs)]
            include!(concat!(env!("OUT_DIR"), "/earshot.events.v1.rs"));
        }
    }
    pub mod listening {
        pub mod v1 {
            #![allow(clippy::all, clippy::pedantic, missing_docs)]
            include!(concat!(env!("OUT_DIR"), "/earshot.listening.v1.rs"));
        }
    }
    pub mod case {
        pub mod v1 {
            #![allow(clippy::all, clippy::pedantic, missing_docs)]
            include!(concat!(env!("OUT_DIR"), "/earshot.case.v1.rs"));
        }
    }
    pub mod escalation {
        pub mod v1 {
            #![allow(clippy::all, clippy::pedantic, missing_docs)]
            include!(concat!(env!("OUT_DIR"), "/earshot.escalation.v1.rs"));
        }
    }
    pub mod insight {
        pub mod v1 {
            #![allow(clippy::all, clippy::pedantic, missing_docs)]
            include!(concat!(env!("OUT_DIR"), "/earshot.insight.v1.rs"));
        }
    }
}

pub use earshot::{case, common, escalation, events, insight, listening};

pub mod codec;
pub mod http_rule;
pub mod openapi;
pub mod scopes;

/// The OpenAPI 3.1 document of every Earshot gRPC service, by full name, as
/// the build wrote it from the protos.
pub const OPENAPI_DOCUMENTS: &[(&str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/openapi_index.rs"));

/// The OpenAPI document of one gRPC service.
pub fn openapi_document(service: &str) -> Option<&'static str> {
    OPENAPI_DOCUMENTS
        .iter()
        .find(|(name, _)| *name == service)
        .map(|(_, document)| *document)
}

/// Every Earshot package's descriptors, decoded once, for the codec's checks,
/// the scopes each method declares, and tools that walk the contracts.
pub fn descriptor_pool() -> &'static prost_reflect::DescriptorPool {
    static POOL: std::sync::OnceLock<prost_reflect::DescriptorPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        prost_reflect::DescriptorPool::decode(FILE_DESCRIPTOR_SET)
            .expect("the descriptor set written by this crate's build decodes")
    })
}
