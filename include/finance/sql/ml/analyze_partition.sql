-- The new rows' statistics, for the summary's join.
ANALYZE {partition}
