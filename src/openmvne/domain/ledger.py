"""Double-entry ledger rules (TigerBeetle's model): accounts keep posted and pending debits
and credits; a transfer moves an amount from one debit account to one credit account; a
pending transfer (a hold) is later posted (fully or partly), voided or expired, exactly
once, by a second transfer that names it. Nothing is ever edited or deleted.

Every balance is credits minus debits, so the sum over all accounts is zero by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from openmvne.errors import InvalidInput, RuleViolation

MAX_AMOUNT_FEN = 100_000_000  # one million yuan per transfer: anything above is a typo


class AccountKind(StrEnum):
    SUBSCRIBER_PREPAID = "subscriberPrepaid"  # the MVNO owes its subscriber
    OUTLET_FLOAT = "outletFloat"  # the platform owes the outlet its unspent float
    CHANNEL_COMMISSION = "channelCommission"  # the MVNO owes a channel its commissions
    MVNO_REVENUE = "mvnoRevenue"
    MVNO_PAYABLE_HOST = "mvnoPayableHost"
    HOST_RECEIVABLE = "hostReceivable"
    CLEARING_DUE_MVNO = "clearingDueMvno"  # the platform owes an MVNO for recharges it took
    CLEARING_FROM_PLATFORM = "clearingFromPlatform"  # the MVNO's claim on the platform
    CASH = "cash"  # money outside the ledger: bank accounts, gateways
    VOUCHER_LIABILITY = "voucherLiability"  # the MVNO owes the value of sold, unused vouchers
    REFUND_DUE = "refundDue"  # the MVNO owes a cancelled line's holder its remaining balance


# Accounts that hold someone's money: they can never be overdrawn.
NO_OVERDRAFT = frozenset({AccountKind.SUBSCRIBER_PREPAID, AccountKind.OUTLET_FLOAT})


class TransferCode(StrEnum):
    FLOAT_PAYMENT = "floatPayment"
    RECHARGE = "recharge"
    RECHARGE_CLEARING = "rechargeClearing"
    COMMISSION = "commission"
    CHARGE = "charge"
    HOLD = "hold"
    POST = "post"
    VOID = "void"
    EXPIRE = "expire"
    REVERSAL = "reversal"
    GATEWAY_PAYMENT = "gatewayPayment"
    VOUCHER = "voucher"
    VOUCHER_SALE = "voucherSale"
    SALE = "sale"  # a line's sale: number fee and first month's fee from the new balance
    FEE = "fee"  # recurring fees (monthly plan fee, keep-number fee) and debts
    REFUND = "refund"  # a cancelled line's balance, owed back to its holder
    USAGE = "usage"  # rated usage charged to a balance
    USAGE_ADJUST = "usageAdjust"  # a rerating's difference, either way
    WHOLESALE = "wholesale"  # the host's wholesale price of the MVNO's usage
    CARE_CREDIT = "careCredit"  # a refund or goodwill credit from a care ticket


class TransferStatus(StrEnum):
    POSTED = "posted"  # moved money (a plain transfer, or the posted part of a hold)
    PENDING = "pending"  # a hold
    VOIDED = "voided"  # the record that released a hold: it moved nothing
    EXPIRED = "expired"  # the same, when the hold ran out of time


def check_amount(amount_fen: object, field: str = "amountFen") -> int:
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise InvalidInput("an amount is a whole number of fen", code="bad_amount", field=field)
    if amount_fen <= 0:
        raise InvalidInput("an amount is more than zero", code="bad_amount", field=field)
    if amount_fen > MAX_AMOUNT_FEN:
        raise InvalidInput(
            f"an amount is at most {MAX_AMOUNT_FEN} fen", code="bad_amount", field=field
        )
    return amount_fen


@dataclass(frozen=True)
class Balance:
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int

    @property
    def posted(self) -> int:
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        """What can still be spent: posted credits less posted and pending debits."""
        return self.credits_posted - self.debits_posted - self.debits_pending


def check_can_debit(kind: AccountKind, balance: Balance, amount_fen: int) -> None:
    if kind in NO_OVERDRAFT and balance.available < amount_fen:
        raise RuleViolation(
            f"not enough money: {balance.available} fen available, {amount_fen} fen needed",
            code="insufficient_funds",
            field="amountFen",
            availableFen=balance.available,
        )


def check_post_amount(pending_fen: int, post_fen: int) -> None:
    if not 0 < post_fen <= pending_fen:
        raise InvalidInput(
            f"a hold of {pending_fen} fen posts 1..{pending_fen} fen",
            code="bad_amount",
            field="amountFen",
        )
