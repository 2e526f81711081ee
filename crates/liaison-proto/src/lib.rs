//! The liaison wire contract, generated from `proto/liaison/v1`: nothing else lives here.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// Version 1 of the contract.
pub mod v1 {
    tonic::include_proto!("liaison.v1");
}

/// The encoded `google.protobuf.FileDescriptorSet` of every file in `proto/liaison/v1` (and what
/// they import), for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/liaison_descriptor.bin"));
