//! lb-l7
