//! What the data dir keeps through crashes, restarts and backups.

mod backup;
mod crash;
mod durability;
mod format;
mod full_disk;
