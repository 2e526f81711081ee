//! The liaison wire contract, generated from `proto/liaison/v1`: nothing else lives here.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// Version 1 of the contract.
pub mod v1 {
    tonic::include_proto!("liaison.v1");
}
