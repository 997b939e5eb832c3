"""The schema, as SQLAlchemy Core tables. Alembic migrations are checked against it.

Tables marked `info={"tenant": True}` hold tenant data: a SELECT on them must carry a
scope (db/scoping.py) or an explicit, reasoned `unscoped()`; otherwise it raises.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Uuid,
    text,
)
from sqlalchemy import Date as SqlDate

from openmvne.db.types import UTCDateTime

# Deterministic constraint names, so SQLite and PostgreSQL migrations agree.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TENANT = {"tenant": True}

individual = Table(
    "individual",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("given_name", String(100), nullable=False),
    Column("family_name", String(100), nullable=False),
    Column("status", String(16), nullable=False),
    # The MVNO whose customer this person is (None: not a customer, e.g. a legal representative).
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=True, index=True),
    Column(
        "registered_by_party_id", Uuid, ForeignKey("organization.id"), nullable=True, index=True
    ),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Real-name identity (customers only): the number sealed (AES-GCM), an HMAC fingerprint
    # to find and count it, and the mask shown everywhere.
    Column("id_type", String(24), nullable=True),
    Column("id_sealed", LargeBinary, nullable=True),
    Column("id_fingerprint", String(64), nullable=True),
    Column("id_masked", String(24), nullable=True),
    Column("id_expires_on", SqlDate, nullable=True),
    Index("uq_individual_mvno_id_id_fingerprint", "mvno_id", "id_fingerprint", unique=True),
    info=TENANT,
)

organization = Table(
    "organization",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("partner_type", String(32), nullable=True),
    Column("name", String(200), nullable=False),
    Column("trading_name", String(200), nullable=True),
    Column("region_code", String(6), nullable=True),
    # Host networks only: which of the three (domain.numbers.HostNetwork), for segment checks.
    Column("network_code", String(16), nullable=True),
    Column("status", String(16), nullable=False),
    # No foreign key: individual already refers to organization; the service checks it.
    Column("legal_representative_id", Uuid, nullable=True),
    Column("created_by_party_id", Uuid, nullable=True, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("uq_organization_kind_name", "kind", "name", unique=True),
    info=TENANT,
)

brand = Table(
    "brand",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("hotline", String(32), nullable=True),
    Column("website", String(200), nullable=True),
    # The tariff features printed on a card sleeve, and where customers get service.
    Column("highlights", JSON, nullable=True),
    Column("service_channels", JSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    info=TENANT,
)

channel_authorisation = Table(
    "channel_authorisation",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("party_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("parent_id", Uuid, ForeignKey("channel_authorisation.id"), nullable=True, index=True),
    # Materialised path of ancestor ids ("/<root hex>/<child hex>/"): a subtree is a prefix.
    Column("path", String(400), nullable=False, index=True),
    Column("level", String(16), nullable=False),
    Column("region_code", String(6), nullable=True),
    Column("exclusive", Boolean, nullable=False),
    Column("plaque_number", String(40), nullable=True),
    Column("status", String(16), nullable=False),
    Column("status_reason", String(500), nullable=True),
    Column("requested_by_party_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("approved_at", UTCDateTime, nullable=True),
    Index("ix_channel_authorisation_mvno_id_status", "mvno_id", "status"),
    Index(
        "uq_channel_authorisation_mvno_id_plaque_number", "mvno_id", "plaque_number", unique=True
    ),
    # The exclusivity rule, enforced by the database as a backstop to the service's lock.
    Index(
        "uq_channel_authorisation_exclusive_seat",
        "mvno_id",
        "level",
        "region_code",
        unique=True,
        sqlite_where=text("exclusive AND status IN ('approved', 'suspended')"),
        postgresql_where=text("exclusive AND status IN ('approved', 'suspended')"),
    ),
    CheckConstraint("NOT exclusive OR region_code IS NOT NULL", name="exclusive_has_region"),
    info=TENANT,
)

blacklist_entry = Table(
    "blacklist_entry",
    metadata,
    Column("id", Uuid, primary_key=True),
    # None: platform-wide (every MVNO refuses the party); else the MVNO that blacklisted it.
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=True, index=True),
    Column("organization_id", Uuid, ForeignKey("organization.id"), nullable=True, index=True),
    Column("individual_id", Uuid, ForeignKey("individual.id"), nullable=True, index=True),
    Column("reason", String(500), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("(organization_id IS NULL) <> (individual_id IS NULL)", name="one_party"),
    info=TENANT,
)

user_account = Table(
    "user_account",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("organization_id", Uuid, ForeignKey("organization.id"), nullable=True, index=True),
    Column("individual_id", Uuid, ForeignKey("individual.id"), nullable=True, index=True),
    Column("password_hash", String(200), nullable=True),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("(organization_id IS NULL) <> (individual_id IS NULL)", name="one_party"),
)

user_role = Table(
    "user_role",
    metadata,
    Column("user_id", Uuid, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(20), nullable=False),
    PrimaryKeyConstraint("user_id", "role"),
)

api_token = Table(
    "api_token",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, ForeignKey("user_account.id"), nullable=False, index=True),
    # SHA-256 of the random secret: tokens carry 256 bits, so a slow hash adds nothing.
    Column("secret_sha256", String(64), nullable=False),
    Column("name", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

audit_event = Table(
    "audit_event",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor_user_id", Uuid, nullable=True),
    Column("actor_username", String(64), nullable=False),
    Column("actor_party_id", Uuid, nullable=True),
    Column("action", String(64), nullable=False),
    Column("object_type", String(40), nullable=False),
    Column("object_id", Uuid, nullable=False),
    # The MVNO whose data changed, for per-tenant audit views (None: platform-level objects).
    Column("mvno_id", Uuid, nullable=True, index=True),
    Column("data", JSON, nullable=False),
    Column("request_id", String(64), nullable=True),
    Index("ix_audit_event_object_type_object_id", "object_type", "object_id"),
    info=TENANT,
)

# --- number resources -------------------------------------------------------------------

number_segment = Table(
    "number_segment",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("prefix", String(4), nullable=False, unique=True),
    Column("host_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
)

number_block = Table(
    "number_block",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("prefix", String(7), nullable=False, unique=True),
    Column("first_number", BigInteger, nullable=False, unique=True),
    Column("segment_id", Uuid, ForeignKey("number_segment.id"), nullable=False, index=True),
    # Owner: None while the block stays with the host network.
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=True, index=True),
    Column("brand_id", Uuid, ForeignKey("brand.id"), nullable=True),
    Column("region_code", String(6), nullable=True),
    Column("allocated_at", UTCDateTime, nullable=True),
    # Roaring bitmap of the offsets (0..9999) that have a number row, i.e. are not in stock.
    Column("taken", LargeBinary, nullable=False),
    Column("taken_count", Integer, nullable=False),
    Index("ix_number_block_mvno_id_first_number", "mvno_id", "first_number"),
    info=TENANT,
)

number_allocation_request = Table(
    "number_allocation_request",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("segment_id", Uuid, ForeignKey("number_segment.id"), nullable=False, index=True),
    Column("block_count", Integer, nullable=False),
    Column("region_code", String(6), nullable=True),
    Column("status", String(16), nullable=False),
    Column("reason", String(500), nullable=True),
    Column("granted_prefixes", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime, nullable=True),
    info=TENANT,
)

sale_right = Table(
    "sale_right",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("holder_id", Uuid, ForeignKey("channel_authorisation.id"), nullable=False, index=True),
    Column("first_number", BigInteger, nullable=False),
    Column("last_number", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Index("ix_sale_right_mvno_id_status_first_number", "mvno_id", "status", "first_number"),
    CheckConstraint("first_number <= last_number", name="ordered"),
    info=TENANT,
)

number_reservation = Table(
    "number_reservation",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("party_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("user_id", Uuid, nullable=True),
    Column("numbers", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
    Column("ended_at", UTCDateTime, nullable=True),
    info=TENANT,
)

number = Table(
    "number",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("msisdn", String(11), nullable=False, unique=True),
    Column("block_id", Uuid, ForeignKey("number_block.id"), nullable=False, index=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reservation_id", Uuid, ForeignKey("number_reservation.id"), nullable=True, index=True),
    # Who holds it: the reserving/selling organisation.
    Column("holder_party_id", Uuid, ForeignKey("organization.id"), nullable=True, index=True),
    # Reserved until / quarantined until.
    Column("state_until", UTCDateTime, nullable=True),
    Column("sale_ref", String(64), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_number_mvno_id_state", "mvno_id", "state"),
    Index("ix_number_state_state_until", "state", "state_until"),
    info=TENANT,
)

number_policy = Table(
    "number_policy",
    metadata,
    Column("mvno_id", Uuid, ForeignKey("organization.id"), primary_key=True),
    Column("utilisation_threshold_pct", Integer, nullable=False),
    Column("quarantine_days", Integer, nullable=False),
    Column("reservation_minutes", Integer, nullable=False),
    Column("pretty_rules", JSON, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    info=TENANT,
)

# --- catalog --------------------------------------------------------------------------------
# Rates (`*_rate`) are µfen per unit (money.MICRO_PER_FEN); money is fen; shares are basis points.

host_average_price = Table(
    "host_average_price",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("host_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("year", Integer, nullable=False),
    Column("voice_rate", BigInteger, nullable=False),
    Column("sms_rate", BigInteger, nullable=False),
    Column("data_rate", BigInteger, nullable=False),
    Column("results_published_on", SqlDate, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("uq_host_average_price_host_id_year", "host_id", "year", unique=True),
)

wholesale_price_list = Table(
    "wholesale_price_list",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("host_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("model", String(16), nullable=False),
    Column("valid_from", SqlDate, nullable=False),
    Column("valid_to", SqlDate, nullable=True),
    Column("voice_rate", BigInteger, nullable=True),
    Column("sms_rate", BigInteger, nullable=True),
    Column("data_rate", BigInteger, nullable=True),
    Column("revenue_tiers", JSON, nullable=False),
    Column("annual_revenue_fen", BigInteger, nullable=False),
    Column("host_packages", JSON, nullable=False),
    Column("per_number_fee_fen", BigInteger, nullable=False),
    Column("review_due_on", SqlDate, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_wholesale_price_list_mvno_id_host_id", "mvno_id", "host_id"),
    info=TENANT,
)

commission_scheme = Table(
    "commission_scheme",
    metadata,
    Column("mvno_id", Uuid, ForeignKey("organization.id"), primary_key=True),
    # Revenue share by channel level, e.g. {"national": 1000, "province": 800, ...}.
    Column("revenue_share_bp", JSON, nullable=False),
    # What the MVNO keeps on a partner's package, before any channel commission.
    Column("mvno_margin_bp", Integer, nullable=False),
    # Recharge commission by channel level (the recharging outlet's chain), basis points.
    Column("recharge_bp", JSON, nullable=True),
    # Activation commission per valid line by channel level, fen (null: the default).
    Column("activation_fen", JSON, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    info=TENANT,
)

product_offering = Table(
    "product_offering",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("brand_id", Uuid, ForeignKey("brand.id"), nullable=False),
    Column("host_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("name", String(100), nullable=False),
    Column("description", String(500), nullable=True),
    Column("status", String(16), nullable=False),
    Column("monthly_fee_fen", BigInteger, nullable=False),
    Column("voice_min", BigInteger, nullable=False),
    Column("sms", BigInteger, nullable=False),
    Column("data_mb", BigInteger, nullable=False),
    Column("voice_rate", BigInteger, nullable=False),
    Column("sms_rate", BigInteger, nullable=False),
    Column("data_rate", BigInteger, nullable=False),
    Column("voice_increment_s", Integer, nullable=False),
    Column("data_increment_kb", Integer, nullable=False),
    Column("data_cap_mb", BigInteger, nullable=True),
    Column("rollover_data", Boolean, nullable=False),
    Column("terminating_voice_free", Boolean, nullable=False),
    Column("validity_days", Integer, nullable=True),
    Column("min_monthly_spend_fen", BigInteger, nullable=True),
    Column("term_months", Integer, nullable=True),
    Column("host_package_code", String(40), nullable=True),
    # Channels of the MVNO may sell it and compose packages from it.
    Column("shared_with_channels", Boolean, nullable=False),
    # Published partner packages: the design and the designing channel.
    Column("design_id", Uuid, nullable=True),
    Column("designer_id", Uuid, ForeignKey("channel_authorisation.id"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("uq_product_offering_mvno_id_name", "mvno_id", "name", unique=True),
    info=TENANT,
)

package_design = Table(
    "package_design",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("designer_id", Uuid, ForeignKey("channel_authorisation.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("base_offering_id", Uuid, ForeignKey("product_offering.id"), nullable=False),
    Column("addon_ids", JSON, nullable=False),
    Column("price_fen", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(500), nullable=True),
    Column("offering_id", Uuid, ForeignKey("product_offering.id"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    info=TENANT,
)

inversion_alert = Table(
    "inversion_alert",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("offering_id", Uuid, ForeignKey("product_offering.id"), nullable=False, index=True),
    Column("price_fen", BigInteger, nullable=False),
    Column("cost_fen", BigInteger, nullable=False),
    Column("cause", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime, nullable=True),
    info=TENANT,
)

# PostgreSQL leaves this percentage of each page filled, the rest for new versions of rows
# updated in place (see migration 0014).
HOT_FILLFACTOR = 50

# --- money ----------------------------------------------------------------------------------

ledger_account = Table(
    "ledger_account",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", String(24), nullable=False),
    # The MVNO whose books the account is in (None: the platform's own, e.g. outlet floats).
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=True, index=True),
    Column("owner_id", Uuid, nullable=True, index=True),
    Column("msisdn", String(11), nullable=True, index=True),
    # kind:mvno:owner:msisdn, so "one account per holder" is a plain unique index.
    Column("natural_key", String(160), nullable=False, unique=True),
    Column("no_overdraft", Boolean, nullable=False),
    Column("debits_posted", BigInteger, nullable=False),
    Column("credits_posted", BigInteger, nullable=False),
    Column("debits_pending", BigInteger, nullable=False),
    Column("credits_pending", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # Prepaid balances and floats never go negative, whatever the code above does.
    CheckConstraint(
        "NOT no_overdraft OR debits_posted + debits_pending <= credits_posted",
        name="no_overdraft",
    ),
    CheckConstraint(
        "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 "
        "AND credits_pending >= 0",
        name="non_negative_totals",
    ),
    info=TENANT,
    # Room in each page for the balance updates to be HOT (migration 0014).
    postgresql_with={"fillfactor": HOT_FILLFACTOR},
)

ledger_transfer = Table(
    "ledger_transfer",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("debit_account_id", Uuid, ForeignKey("ledger_account.id"), nullable=False, index=True),
    Column("credit_account_id", Uuid, ForeignKey("ledger_account.id"), nullable=False, index=True),
    Column("amount_fen", BigInteger, nullable=False),
    Column("code", String(24), nullable=False),
    Column("reference", String(100), nullable=True),
    Column("status", String(16), nullable=False),
    # A post, void or expiry names the hold it resolves; unique, so it resolves once.
    Column("pending_id", Uuid, ForeignKey("ledger_transfer.id"), nullable=True, unique=True),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("mvno_id", Uuid, nullable=True, index=True),
    Column("party_id", Uuid, nullable=True, index=True),  # the outlet or channel involved
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("amount_fen > 0", name="positive_amount"),
    CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
    info=TENANT,
)

idempotency_key = Table(
    "idempotency_key",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("caller", String(64), nullable=False),
    Column("key", String(200), nullable=False),
    Column("operation", String(40), nullable=False),
    Column("request_sha256", String(64), nullable=False),
    Column("result", JSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("uq_idempotency_key_caller_key", "caller", "key", unique=True),
)

recharge_order = Table(
    "recharge_order",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("outlet_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("channel_order_number", String(64), nullable=False),
    Column("msisdn", String(11), nullable=False, index=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("amount_fen", BigInteger, nullable=False),
    Column("request_sha256", String(64), nullable=False),
    Column("result", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(
        "uq_recharge_order_outlet_id_channel_order_number",
        "outlet_id",
        "channel_order_number",
        unique=True,
    ),
    info=TENANT,
)

# Database-enforced append-only ledger (created by migration 0004).
APPEND_ONLY_SQLITE = [
    "CREATE TRIGGER ledger_transfer_no_update BEFORE UPDATE ON ledger_transfer "
    "BEGIN SELECT RAISE(ABORT, 'ledger transfers are append-only'); END",
    "CREATE TRIGGER ledger_transfer_no_delete BEFORE DELETE ON ledger_transfer "
    "BEGIN SELECT RAISE(ABORT, 'ledger transfers are append-only'); END",
]
APPEND_ONLY_POSTGRES = [
    "CREATE FUNCTION ledger_append_only() RETURNS trigger AS $$ BEGIN "
    "RAISE EXCEPTION 'ledger transfers are append-only'; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER ledger_transfer_no_change BEFORE UPDATE OR DELETE ON ledger_transfer "
    "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()",
]

# --- SIM cards ------------------------------------------------------------------------------

sim_batch = Table(
    "sim_batch",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("host_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("card_count", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    info=TENANT,
)

sim_card = Table(
    "sim_card",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("iccid", String(20), nullable=False, unique=True),
    Column("imsi", String(15), nullable=False, unique=True),
    # AES-GCM (nonce + ciphertext) under the platform's secret key; never returned or logged.
    Column("ki_enc", LargeBinary, nullable=False),
    Column("opc_enc", LargeBinary, nullable=True),
    Column("kind", String(10), nullable=False),
    Column("msisdn", String(11), nullable=True, unique=True),
    Column("region_code", String(6), nullable=True),
    Column("state", String(16), nullable=False),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("batch_id", Uuid, ForeignKey("sim_batch.id"), nullable=False, index=True),
    # Who holds it: the MVNO itself (holder_auth_id None) or a channel of its tree.
    Column("holder_party_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("holder_auth_id", Uuid, ForeignKey("channel_authorisation.id"), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_sim_card_holder_party_id_state", "holder_party_id", "state"),
    Index("ix_sim_card_mvno_id_state", "mvno_id", "state"),
    info=TENANT,
)

stock_transfer = Table(
    "stock_transfer",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("from_party_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("to_party_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("to_auth_id", Uuid, ForeignKey("channel_authorisation.id"), nullable=True),
    Column("card_count", Integer, nullable=False),
    Column("iccids", JSON, nullable=False),
    Column("by_user", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    info=TENANT,
)

# --- vouchers (充值卡) ---------------------------------------------------------------------

voucher_batch = Table(
    "voucher_batch",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("face_value_fen", BigInteger, nullable=False),
    Column("card_count", Integer, nullable=False),
    Column("expires_on", SqlDate, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    info=TENANT,
)

voucher = Table(
    "voucher",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("batch_id", Uuid, ForeignKey("voucher_batch.id"), nullable=False, index=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("serial", String(20), nullable=False, unique=True),
    # HMAC-SHA256 of the PIN under the platform key: found by PIN, never stored in clear.
    Column("pin_hmac", String(64), nullable=False, unique=True),
    Column("state", String(16), nullable=False),
    Column("holder_party_id", Uuid, ForeignKey("organization.id"), nullable=True),
    Column("used_msisdn", String(11), nullable=True),
    Column("used_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    info=TENANT,
)

payment_order = Table(
    "payment_order",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("msisdn", String(11), nullable=False, index=True),
    Column("amount_fen", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # pending, paid, failed
    Column("gateway_txn_id", String(64), nullable=True, unique=True),
    Column("payer_party_id", Uuid, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("settled_at", UTCDateTime, nullable=True),
    info=TENANT,
)

# --- subscribers ----------------------------------------------------------------------------

lifecycle_policy = Table(
    "lifecycle_policy",
    metadata,
    Column("mvno_id", Uuid, ForeignKey("organization.id"), primary_key=True),
    Column("out_to_both_days", Integer, nullable=False),
    Column("both_to_pre_cancel_days", Integer, nullable=False),
    Column("pre_cancel_to_cancel_days", Integer, nullable=False),
    Column("keep_fee_fen", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    info=TENANT,
)

LIVE_LINE = "state NOT IN ('cancelled', 'failed')"

subscription = Table(
    "subscription",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("msisdn", String(11), nullable=False, index=True),
    Column("individual_id", Uuid, ForeignKey("individual.id"), nullable=False, index=True),
    # Copied from the individual: the five-cards-per-ID count is one indexed query.
    Column("id_fingerprint", String(64), nullable=False),
    Column("offering_id", Uuid, ForeignKey("product_offering.id"), nullable=False),
    Column("host_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("brand_id", Uuid, ForeignKey("brand.id"), nullable=True),
    Column("sim_id", Uuid, ForeignKey("sim_card.id"), nullable=False),
    Column("iccid", String(20), nullable=False),
    Column("region_code", String(6), nullable=True),
    # The outlet that sold the line, and its authorisation (commissions follow the chain).
    Column("outlet_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("outlet_auth_id", Uuid, ForeignKey("channel_authorisation.id"), nullable=True),
    Column("state", String(24), nullable=False),
    Column("previous_state", String(24), nullable=True),
    Column("state_since", UTCDateTime, nullable=False),
    Column("state_until", UTCDateTime, nullable=True),
    # What the host network was last told (and confirmed) about the line.
    Column("network_level", String(16), nullable=False),
    Column("network_in_sync", Boolean, nullable=False),
    Column("debt_fen", BigInteger, nullable=False),
    Column("next_fee_on", SqlDate, nullable=True),
    Column("evidence", JSON, nullable=False),
    Column("activated_at", UTCDateTime, nullable=True),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_subscription_mvno_id_id_fingerprint", "mvno_id", "id_fingerprint"),
    Index("ix_subscription_state_state_until", "state", "state_until"),
    Index("ix_subscription_next_fee_on", "next_fee_on"),
    # One live line per number, whatever the code above does.
    Index(
        "uq_subscription_msisdn_live",
        "msisdn",
        unique=True,
        sqlite_where=text(LIVE_LINE),
        postgresql_where=text(LIVE_LINE),
    ),
    CheckConstraint("debt_fen >= 0", name="debt_not_negative"),
    info=TENANT,
)

# When each line was barred for missing real-name registration (nothing is charged for use
# in such a span): rating needs the state at each record's time, not the line's state now.
# Reached through its line, like charging_request through its session.
real_name_barring = Table(
    "real_name_barring",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("subscription_id", Uuid, ForeignKey("subscription.id"), nullable=False, index=True),
    Column("since", UTCDateTime, nullable=False),
    Column("until", UTCDateTime, nullable=True),  # NULL while the line is still barred
    # One open span per line: rating joins records to spans and must meet at most one.
    Index(
        "uq_real_name_barring_open",
        "subscription_id",
        unique=True,
        sqlite_where=text("until IS NULL"),
        postgresql_where=text("until IS NULL"),
    ),
    CheckConstraint("until IS NULL OR until >= since", name="span_in_order"),
)

subscription_service = Table(
    "subscription_service",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("subscription_id", Uuid, ForeignKey("subscription.id"), nullable=False, index=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("offering_id", Uuid, ForeignKey("product_offering.id"), nullable=False),
    Column("state", String(16), nullable=False),  # active, closed
    Column("order_id", Uuid, nullable=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    info=TENANT,
)

product_order = Table(
    "product_order",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("subscription_id", Uuid, ForeignKey("subscription.id"), nullable=True, index=True),
    Column("msisdn", String(11), nullable=False, index=True),
    Column("kind", String(24), nullable=False),
    Column("state", String(16), nullable=False),  # TMF622: acknowledged ... completed/failed
    # Who placed it: an organisation (outlet, partner, MVNO) or the subscriber.
    Column("party_id", Uuid, nullable=False, index=True),
    Column("username", String(64), nullable=False),
    Column("external_id", String(64), nullable=True),
    Column("request", JSON, nullable=False),
    Column("failure_reason", String(300), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime, nullable=True),
    info=TENANT,
)

provisioning_command = Table(
    "provisioning_command",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("order_id", Uuid, ForeignKey("product_order.id"), nullable=True, index=True),
    Column("subscription_id", Uuid, ForeignKey("subscription.id"), nullable=False, index=True),
    Column("msisdn", String(11), nullable=False),
    Column("host_network", String(16), nullable=False),
    Column("command", String(16), nullable=False),
    Column("imsi", String(15), nullable=True),
    Column("iccid", String(20), nullable=True),
    Column("state", String(16), nullable=False),  # pending, sent, acknowledged, rejected, failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("network_ref", String(64), nullable=True),
    Column("last_error", String(300), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_provisioning_command_state_next_attempt_at", "state", "next_attempt_at"),
    info=TENANT,
)

# --- usage ------------------------------------------------------------------------------------
# Exact amounts (`*_exact`) are in 1/(61,440 × 10⁶) fen: domain/rating.SCALE units per fen.

usage_claim = Table(
    "usage_claim",
    metadata,
    # Which sequence numbers of a network node were rated: one roaring bitmap per 65,536.
    Column("node_id", String(32), nullable=False),
    Column("block", BigInteger, nullable=False),
    Column("bitmap", LargeBinary, nullable=False),
    Column("count", Integer, nullable=False),
    PrimaryKeyConstraint("node_id", "block"),
)

usage_period = Table(
    "usage_period",
    metadata,
    Column("subscription_id", Uuid, ForeignKey("subscription.id"), nullable=False),
    Column("period", String(7), nullable=False),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("msisdn", String(11), nullable=False),
    Column("voice_allow_s", BigInteger, nullable=False),
    Column("sms_allow", BigInteger, nullable=False),
    Column("data_allow_kb", BigInteger, nullable=False),
    Column("rollover_kb", BigInteger, nullable=False),
    Column("voice_used_s", BigInteger, nullable=False),
    Column("sms_used", BigInteger, nullable=False),
    Column("data_used_kb", BigInteger, nullable=False),
    Column("data_over_kb", BigInteger, nullable=False),
    Column("records", BigInteger, nullable=False),
    Column("charge_exact", BigInteger, nullable=False),
    Column("charged_fen", BigInteger, nullable=False),
    # What the balance could not pay (the line went into arrears for it).
    Column("unpaid_fen", BigInteger, nullable=False),
    Column("wholesale_exact", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("subscription_id", "period"),
    info=TENANT,
    postgresql_with={"fillfactor": HOT_FILLFACTOR},  # updated by every rating batch (0014)
)

usage_cost = Table(
    "usage_cost",
    metadata,
    # The wholesale cost of an MVNO's usage on a host in a period, rounded once.
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("host_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("period", String(7), nullable=False),
    Column("wholesale_exact", BigInteger, nullable=False),
    Column("wholesale_fen", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("mvno_id", "host_id", "period"),
    info=TENANT,
)

rating_batch = Table(
    "rating_batch",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", String(8), nullable=False),  # rate, rerate
    Column("source", String(500), nullable=False),
    Column("period", String(7), nullable=True),  # a rerate's period
    Column("records_in", BigInteger, nullable=False),
    Column("duplicates", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    Column("rated", BigInteger, nullable=False),
    Column("charged_fen", BigInteger, nullable=False),
    Column("wholesale_fen", BigInteger, nullable=False),
    # Where the rated records are kept: Parquet files, one per period, under the usage lake.
    Column("files", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

usage_reject = Table(
    "usage_reject",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("batch_id", Uuid, ForeignKey("rating_batch.id"), nullable=False, index=True),
    Column("line_no", BigInteger, nullable=True),
    Column("node_id", String(32), nullable=True),
    Column("seq", String(40), nullable=True),
    Column("msisdn", String(40), nullable=True),
    Column("reason", String(200), nullable=False),
)

# --- online charging -------------------------------------------------------------------------

charging_session = Table(
    "charging_session",
    metadata,
    Column("id", Uuid, primary_key=True),
    # The network's session id (Gy Session-Id / Nchf ChargingDataRef).
    Column("session_key", String(128), nullable=False, unique=True),
    Column("subscription_id", Uuid, ForeignKey("subscription.id"), nullable=False, index=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("host_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("msisdn", String(11), nullable=False),
    Column("period", String(7), nullable=False),
    Column("type", String(8), nullable=False),
    Column("direction", String(2), nullable=False),
    Column("state", String(10), nullable=False),  # open, closed, expired
    # The current grant: units from the allowance, units paid by the money hold.
    Column("allowance_units", BigInteger, nullable=False),
    Column("money_units", BigInteger, nullable=False),
    Column("hold_id", Uuid, nullable=True),
    Column("used_units", BigInteger, nullable=False),
    Column("last_request", Integer, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_charging_session_state_expires_at", "state", "expires_at"),
    info=TENANT,
)

charging_request = Table(
    "charging_request",
    metadata,
    Column("session_id", Uuid, ForeignKey("charging_session.id"), nullable=False),
    Column("request_number", Integer, nullable=False),
    Column("request_sha256", String(64), nullable=False),
    Column("response", JSON, nullable=False),
    # What an update or termination charged, as a rated usage record: the network's units
    # (seconds, messages, bytes) since `used_since`, the previous answer, and their rating
    # (as a rated record's, domain/rating.py). Rerating rates these with the period's rated
    # records and rewrites their rating (docs/usage-records.md). NULL on an initial request;
    # the rating NULL too on requests answered before migration 0015, until a rerating.
    Column("used_quantity", BigInteger, nullable=True),
    Column("used_since", UTCDateTime, nullable=True),
    Column("units", BigInteger, nullable=True),
    Column("in_allowance", BigInteger, nullable=True),
    Column("billed_overage", BigInteger, nullable=True),
    Column("charge_exact", BigInteger, nullable=True),
    Column("wholesale_exact", BigInteger, nullable=True),
    PrimaryKeyConstraint("session_id", "request_number"),
)

# --- after-sales care -------------------------------------------------------------------------

care_team = Table(
    "care_team",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    # Whose agents staff it: the MVNO itself or one of its partners.
    Column("owner_party_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    # The MVNO's id on its main team (where unrouted and breached tickets go): one per MVNO.
    Column("main_of", Uuid, nullable=True, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("uq_care_team_mvno_id_name", "mvno_id", "name", unique=True),
    info=TENANT,
)

care_team_area = Table(
    "care_team_area",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("team_id", Uuid, ForeignKey("care_team.id"), nullable=False, index=True),
    # None: every brand of the MVNO / everywhere.
    Column("brand_id", Uuid, ForeignKey("brand.id"), nullable=True),
    Column("region_code", String(6), nullable=True),
    # The digits the region's codes share ('' everywhere), so "inside" is a LIKE prefix.
    Column("region_prefix", String(6), nullable=False),
    info=TENANT,
)

care_team_member = Table(
    "care_team_member",
    metadata,
    Column("team_id", Uuid, ForeignKey("care_team.id"), nullable=False),
    Column("user_id", Uuid, ForeignKey("user_account.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("team_id", "user_id"),
    info=TENANT,
)

care_route = Table(
    "care_route",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False),
    # None in a dimension matches anything (domain/care.Route).
    Column("brand_id", Uuid, ForeignKey("brand.id"), nullable=True),
    Column("region_code", String(6), nullable=True),
    Column("ticket_type", String(24), nullable=True),
    Column("team_id", Uuid, ForeignKey("care_team.id"), nullable=False, index=True),
    # "brand|region|type" with * for any: one rule per combination and MVNO.
    Column("rule_key", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("uq_care_route_mvno_id_rule_key", "mvno_id", "rule_key", unique=True),
    info=TENANT,
)

trouble_ticket = Table(
    "trouble_ticket",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("brand_id", Uuid, ForeignKey("brand.id"), nullable=True),
    Column("msisdn", String(11), nullable=False, index=True),
    # The number's home region (its block's), which routing and partner scopes go by.
    Column("region_code", String(6), nullable=True),
    Column("subscription_id", Uuid, ForeignKey("subscription.id"), nullable=True),
    # The line's holder when the ticket was opened: what a subscriber's scope goes by.
    Column("individual_id", Uuid, ForeignKey("individual.id"), nullable=True, index=True),
    Column("ticket_type", String(24), nullable=False),
    Column("severity", String(12), nullable=False),
    Column("priority", String(12), nullable=False),
    Column("name", String(200), nullable=True),
    Column("description", String(2000), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_reason", String(500), nullable=True),
    Column("status_changed_at", UTCDateTime, nullable=False),
    # Where it is now, and where routing first sent it (the reports count by the latter).
    Column("team_id", Uuid, ForeignKey("care_team.id"), nullable=False, index=True),
    Column("first_team_id", Uuid, ForeignKey("care_team.id"), nullable=False),
    Column("channel", String(16), nullable=False),
    # Who opened it: an organisation (outlet, MVNO, partner, platform) or the individual.
    Column("opened_by_party_id", Uuid, nullable=False, index=True),
    Column("opened_by", String(64), nullable=False),
    Column("external_id", String(64), nullable=True),
    # The SLA clock: due = opened + SLA hours + time spent pending (paused_s).
    Column("sla_due_at", UTCDateTime, nullable=False),
    Column("paused_at", UTCDateTime, nullable=True),
    Column("paused_s", BigInteger, nullable=False),
    Column("first_response_at", UTCDateTime, nullable=True),
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("closed_at", UTCDateTime, nullable=True),
    Column("escalated_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_trouble_ticket_status_sla_due_at", "status", "sla_due_at"),
    Index("ix_trouble_ticket_mvno_id_created_at", "mvno_id", "created_at"),
    info=TENANT,
)

ticket_event = Table(
    "ticket_event",
    metadata,
    # A ticket's history: opened, routed, status changes, notes, escalation, actions.
    Column("id", Uuid, primary_key=True),
    Column("ticket_id", Uuid, ForeignKey("trouble_ticket.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=True),
    Column("text", String(2000), nullable=True),
    Column("author", String(64), nullable=False),
    Column("author_party_id", Uuid, nullable=True),
    Column("data", JSON, nullable=False),
    # An action's idempotency key: one linked effect per key and ticket.
    Column("action_key", String(200), nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Index("uq_ticket_event_ticket_id_action_key", "ticket_id", "action_key", unique=True),
    info=TENANT,
)

care_sla_breach = Table(
    "care_sla_breach",
    metadata,
    Column("id", Uuid, primary_key=True),
    # Unique: a ticket breaches (and is escalated) once, however many sweeps run.
    Column("ticket_id", Uuid, ForeignKey("trouble_ticket.id"), nullable=False, unique=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("team_id", Uuid, ForeignKey("care_team.id"), nullable=False, index=True),
    Column("escalated_to_team_id", Uuid, ForeignKey("care_team.id"), nullable=False),
    Column("ticket_type", String(24), nullable=False),
    Column("priority", String(12), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("breached_at", UTCDateTime, nullable=False),
    info=TENANT,
)

care_verification = Table(
    "care_verification",
    metadata,
    # Self-care SMS codes: kept as HMACs, expire, lock after too many wrong tries.
    Column("id", Uuid, primary_key=True),
    Column("msisdn", String(11), nullable=False),
    Column("code_hmac", String(64), nullable=False),
    Column("state", String(12), nullable=False),  # sent, used, locked, failed
    Column("attempts", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Index("ix_care_verification_msisdn_created_at", "msisdn", "created_at"),
)

# --- settlement -------------------------------------------------------------------------------

settlement_run = Table(
    "settlement_run",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("month", String(7), nullable=False),
    Column("status", String(8), nullable=False),  # open, closed
    # SHA-256 of the documents: a rerun that computes the same documents has the same digest.
    Column("digest", String(64), nullable=False),
    Column("documents", JSON, nullable=False),
    Column("runs", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
    Index("uq_settlement_run_mvno_id_month", "mvno_id", "month", unique=True),
    info=TENANT,
)

customer_bill = Table(
    "customer_bill",
    metadata,
    # TMF678: the host network's bill to an MVNO for a month, from a settlement run.
    Column("id", Uuid, primary_key=True),
    Column("run_id", Uuid, ForeignKey("settlement_run.id"), nullable=False, index=True),
    Column("mvno_id", Uuid, ForeignKey("organization.id"), nullable=False, index=True),
    Column("host_id", Uuid, ForeignKey("organization.id"), nullable=False),
    Column("month", String(7), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("lines", JSON, nullable=False),
    Column("state", String(12), nullable=False),  # new (the run is open), settled (closed)
    Column("created_at", UTCDateTime, nullable=False),
    Index("uq_customer_bill_mvno_id_host_id_month", "mvno_id", "host_id", "month", unique=True),
    info=TENANT,
)
