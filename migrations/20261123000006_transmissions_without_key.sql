-- A file imported by an operator with `tba import` is a transmission too, made without an API key.
ALTER TABLE transmissions ALTER COLUMN key_id DROP NOT NULL;
