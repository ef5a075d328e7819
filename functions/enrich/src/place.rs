//! The place of an IP address (to be written).
