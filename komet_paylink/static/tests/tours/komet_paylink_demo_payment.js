/** @odoo-module **/

import { registry } from "@web/core/registry";

// A customer opens the link, pays through the simulated checkout (demo mode) and sees the
// receipt. Started by the test on the link's URL, which only the test knows.
registry.category("web_tour.tours").add("komet_paylink_demo_payment", {
    steps: () => [
        {
            content: "The page shows the amount due and one Pay button",
            trigger: ".o_komet_paylink_amount",
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
