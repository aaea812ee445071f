// Public entry point of @framewire/mailbox: the latest-value slot with drop accounting that frame
// delivery stands on.
export * from './latest-slot';
