//! `hermes-enrich`: serves the push endpoint on Cloud Run (`$PORT`) or AWS Lambda.

fn main() {}
