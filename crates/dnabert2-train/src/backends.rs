//! The backend aliases and device constructors, re-exported from the model crate's one
//! module ([`dnabert2_model::backend`]) so training code names them from here too.

pub use dnabert2_model::backend::*;
