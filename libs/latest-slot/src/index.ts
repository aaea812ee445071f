// Public entry point of @framewire/latest-slot: the latest-value slot with drop accounting that frame
// delivery stands on.
export { LatestSlot } from './latest-slot';
