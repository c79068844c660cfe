-- Reverses 007_create_activities_partitioned.sql: drops the activity log with all its
-- partitions and partitioned indexes. Rolling back loses the whole activity history:
-- detach and archive the partitions first if it must be kept.
SET LOCAL lock_timeout = '5s';

DROP TABLE public.activities;
