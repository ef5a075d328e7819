//! The device of a user agent string (to be written).
