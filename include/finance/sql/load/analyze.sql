-- Statistics for the planner of the transforms: only the columns they use (autovacuum analyzes every
-- column later).
ANALYZE {relation} ({columns})
