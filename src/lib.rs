pub mod provision;
