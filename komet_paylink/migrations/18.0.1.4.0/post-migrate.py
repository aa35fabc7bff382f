"""18.0.1.4.0: Stripe events are de-duplicated per receiving provider.

The events stored before knew only their company: each is given its transaction's provider,
else its company's payment-link provider.
"""


def migrate(cr, version):
    if not version:
        return
    cr.execute(
        """
        UPDATE komet_paylink_event event
           SET provider_id = COALESCE(
                   (SELECT tx.provider_id FROM payment_transaction tx
                     WHERE tx.id = event.transaction_id),
                   (SELECT provider.id FROM payment_provider provider
                     WHERE provider.code = 'komet_paylink'
                       AND provider.company_id = event.company_id
                     ORDER BY provider.id LIMIT 1)
               )
         WHERE event.provider_id IS NULL
        """
    )
