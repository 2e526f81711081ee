//! The liaison daemon.
