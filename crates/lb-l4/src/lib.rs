//! lb-l4
