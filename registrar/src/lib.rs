pub mod operation;
pub mod registry;
