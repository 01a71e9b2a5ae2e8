//! One definition per command between sites: a [`Route`] names its path and, by its type
//! parameter, its body. The sender serialises that body (`Serialize`) and the receiver parses
//! the same type from the request (`FromParams`), so the two sides cannot drift apart.

use std::fmt;
use std::marker::PhantomData;

/// A command's path under `/v2` (e.g. `/partner/job/start`) and its body type `B`.
pub struct Route<B> {
    pub path: &'static str,
    body: PhantomData<fn() -> B>,
}

impl<B> Route<B> {
    pub const fn new(path: &'static str) -> Self {
        Self {
            path,
            body: PhantomData,
        }
    }

    /// The path as served: `/v2<path>`.
    pub fn served(&self) -> String {
        format!("/{}{}", crate::API_VERSION, self.path)
    }
}

impl<B> Clone for Route<B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B> Copy for Route<B> {}

impl<B> fmt::Debug for Route<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path)
    }
}
