//! The listeners as a client sees them: health, metrics and logs; HTTPS.

mod ops;
mod tls;
