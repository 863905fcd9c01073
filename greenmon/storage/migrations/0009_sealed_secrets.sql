-- Webhook secrets are no longer stored in the clear: `secret` holds a sealed value
-- ('fernet:...', with GREENMON_ALERTS_SECRET_KEY) or is NULL when `secret_env` names
-- the alerts service's variable that holds it.
ALTER TABLE alert_channels ADD COLUMN IF NOT EXISTS secret_env text;
