//! The boxed future the seams' traits return: object-safe async methods
//! without a macro crate. A leaf module: it imports nothing of this crate.

use std::future::Future;
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
