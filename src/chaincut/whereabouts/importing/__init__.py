"""Bulk import of people, venues, visits and encounters from CSV, JSON Lines and Parquet files."""
