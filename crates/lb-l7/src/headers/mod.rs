//! Header manipulation: rewriting, forwarding headers, hop-by-hop stripping.
