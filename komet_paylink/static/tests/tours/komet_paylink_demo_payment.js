/** @odoo-module **/

import { registry } from "@web/core/registry";

// Started by the tests on a link's URL, which only the test knows, in demo mode.

// Pay, pay on the simulated checkout, and see the receipt back on the shop's site.
const payAndSeeTheReceipt = () => [
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
];

// A customer opens the link of one invoice and pays it.
registry.category("web_tour.tours").add("komet_paylink_demo_payment", {
    steps: () => [
        {
            content: "The page shows the amount due and one Pay button",
            trigger: ".o_komet_paylink_amount",
        },
        ...payAndSeeTheReceipt(),
    ],
});

// A customer opens a statement link, unticks the newest invoice and pays the others.
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
            content: "It is unticked",
            trigger: ".o_komet_paylink_statement_invoice:last input[name='invoice_ids']:not(:checked)",
        },
        ...payAndSeeTheReceipt(),
    ],
});
