"""What results say to people: store summaries and headlines (summary), and the sensitivity
tables and charts (sensitivity_report)."""
