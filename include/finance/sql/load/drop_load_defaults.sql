-- The load's defaults off the new partition, before it becomes the day's.
ALTER TABLE {new} ALTER COLUMN ds DROP DEFAULT, ALTER COLUMN source_file DROP DEFAULT,
    ALTER COLUMN source_line DROP IDENTITY
