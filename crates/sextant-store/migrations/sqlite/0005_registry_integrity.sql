-- Registry integrity: what was approved is what is served, and the audit log outlives what it
-- describes.
--
-- approved_files is the JSON manifest (path, SHA-256, size of every file under the version's
-- model artifacts) recorded with the approval; approved_root is the artifact-store path those
-- files are under, so an artifact write can be checked against every approved version with
-- one indexed lookup.
ALTER TABLE model_versions ADD COLUMN approved_files TEXT;
ALTER TABLE model_versions ADD COLUMN approved_root TEXT;
CREATE INDEX model_versions_by_approved_root ON model_versions (approved_root);

-- The source of the identity that created the version (user_id holds its name): separation
-- of duties compares a verified reviewer with a verified author.
ALTER TABLE model_versions ADD COLUMN user_source TEXT;

-- The audit log of a deleted model is found by the name it had.
CREATE INDEX registry_audit_by_name ON registry_audit (model_name, id);
