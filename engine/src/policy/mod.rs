//! Default policies in the Azure Policy rule language (placeholder until its issue lands).
