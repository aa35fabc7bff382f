/** @odoo-module **/

import { registry } from "@web/core/registry";

// A customer opens a statement link, unticks one invoice, pays the others through the
// simulated checkout (demo mode) and sees the receipt. Started by the test on the link's URL.
registry.category("web_tour.tours").add("komet_paylink_statement_payment", {
    steps: () => [
        {
            content: "The page lists the open invoices, all ticked",
            trigger: ".o_komet_paylink_statement input[name='invoice_ids']:checked:eq(2)",
        },
        {
            content: "Untick the newest invoice",
            trigger: ".o_komet_paylink_statement_invoice:last input[name='invoice_ids']",
            run: "click",
        },
        {
            content: "Pay the ticked invoices",
            trigger: ".o_komet_paylink_statement_invoice:last input[name='invoice_ids']:not(:checked)",
        },
        {
            content: "Pay",
            trigger: "button.o_komet_paylink_pay",
            run: "click",
        },
        {
            content: "Pay on the simulated checkout",
            trigger: "button.o_komet_paylink_demo_pay",
            run: "click",
        },
        {
            content: "Back on the shop's site, the payment is received",
            trigger: ".o_komet_paylink_receipt:contains('Paid')",
        },
    ],
});
